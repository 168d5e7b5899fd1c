app_name = "wfm"
urlpatterns: list = []
