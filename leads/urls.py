from django.urls import path

from crm.records import boards, merge_views
from crm.records.tables import table_urls
from crm.views import record_create, record_delete, record_edit
from leads import scoring_views, views
from leads.records import LEADS

app_name = "leads"

urlpatterns = [
    *table_urls(LEADS),
    path("board/", boards.record_board, {"record_type": LEADS}, name="board"),
    path("board/column/", boards.board_column, {"record_type": LEADS}, name="board_column"),
    path("new/", record_create, {"record_type": LEADS}, name="create"),
    path("merge/", merge_views.record_merge, {"record_type": LEADS}, name="merge"),
    path("<uuid:lead_id>/", views.lead_detail, name="detail"),
    path("<uuid:pk>/edit/", record_edit, {"record_type": LEADS}, name="edit"),
    path("<uuid:pk>/delete/", record_delete, {"record_type": LEADS}, name="delete"),
    path("<uuid:pk>/move/", boards.record_move, {"record_type": LEADS}, name="move"),
    path("<uuid:pk>/board-move/", boards.board_move, {"record_type": LEADS}, name="board_move"),
    path("<uuid:lead_id>/qualify/", views.lead_qualify, name="qualify"),
    path("<uuid:lead_id>/disqualify/", views.lead_disqualify, name="disqualify"),
    path("<uuid:lead_id>/assign/", views.lead_assign, name="assign"),
    path("<uuid:lead_id>/convert/", views.lead_convert, name="convert"),
    path("<uuid:lead_id>/rescore/", scoring_views.lead_rescore, name="rescore"),
]
