from django.urls import path

from crm.records import boards
from crm.records.tables import table_urls
from crm.views import record_create, record_delete, record_edit
from deals import views
from deals.records import DEALS

app_name = "deals"

urlpatterns = [
    *table_urls(DEALS),
    path("new/", record_create, {"record_type": DEALS}, name="create"),
    path("board/", boards.record_board, {"record_type": DEALS}, name="board"),
    path("board/column/", boards.board_column, {"record_type": DEALS}, name="board_column"),
    path("<uuid:pk>/", views.deal_detail, name="detail"),
    path("<uuid:pk>/edit/", record_edit, {"record_type": DEALS}, name="edit"),
    path("<uuid:pk>/delete/", record_delete, {"record_type": DEALS}, name="delete"),
    path("<uuid:pk>/move/", boards.board_move, {"record_type": DEALS}, name="board_move"),
    path("<uuid:pk>/transition/", boards.record_move, {"record_type": DEALS}, name="transition"),
    path("<uuid:pk>/won/", views.deal_won, name="won"),
    path("<uuid:pk>/lost/", views.deal_lost, name="lost"),
    path("<uuid:pk>/assign/", views.deal_assign, name="assign"),
]
