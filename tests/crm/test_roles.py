from crm.roles import ROLE_ORDER, Role


def test_migration_creates_every_role_group(db, django_user_model):
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) >= {r.value for r in ROLE_ORDER}


def test_rep_holds_no_global_view_permission_on_people(rep1):
    # guardian treats a global view permission as access to every row (SPEC §9).
    assert not rep1.has_perm("crm.view_person")
    assert not rep1.has_perm("crm.view_all_people")
    assert rep1.has_perm("crm.add_person")


def test_manager_and_analyst_see_all_people(manager, analyst):
    assert manager.has_perm("crm.view_all_people")
    assert manager.has_perm("crm.change_all_people")
    assert analyst.has_perm("crm.view_all_people")
    assert not analyst.has_perm("crm.change_all_people")
    assert not analyst.has_perm("crm.add_person")


def test_role_property_names_highest_role(rep1, admin_user, viewer):
    assert rep1.role == Role.SALES_REP
    assert admin_user.role == Role.ADMIN
    assert viewer.role == Role.VIEWER
