from django.urls import path

from deals import views

app_name = "deals"

urlpatterns = [
    path("", views.deal_list, name="list"),
    path("new/", views.deal_create, name="create"),
    path("bulk/", views.deal_bulk, name="bulk"),
    path("board/", views.deal_board, name="board"),
    path("board/column/", views.deal_board_column, name="board_column"),
    path("<uuid:pk>/", views.deal_detail, name="detail"),
    path("<uuid:pk>/edit/", views.deal_edit, name="edit"),
    path("<uuid:pk>/delete/", views.deal_delete, name="delete"),
    path("<uuid:pk>/move/", views.deal_move, name="move"),
    path("<uuid:pk>/transition/", views.deal_transition, name="transition"),
    path("<uuid:pk>/won/", views.deal_won, name="won"),
    path("<uuid:pk>/lost/", views.deal_lost, name="lost"),
    path("<uuid:pk>/assign/", views.deal_assign, name="assign"),
]
