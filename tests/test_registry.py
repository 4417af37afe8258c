import pytest

from reasoning_irl.registry import Registry, UnknownNameError


def test_register_get_and_names():
    reg = Registry("thing")

    @reg.register("b")
    def b():
        return 2

    reg.add("a", 1)
    assert reg.get("b") is b and reg.get("a") == 1
    assert reg.names() == ["a", "b"] and "a" in reg and len(reg) == 2


def test_unknown_name_lists_choices_and_duplicates_fail():
    reg = Registry("thing")
    reg.add("x", 1)
    with pytest.raises(UnknownNameError, match=r"unknown thing 'y'; choose one of: x"):
        reg.get("y")
    with pytest.raises(ValueError, match="already registered"):
        reg.add("x", 2)


def test_remove_unregisters_and_items_keep_registration_order():
    reg = Registry("thing")
    reg.add("b", 1)
    reg.add("a", 2)
    assert reg.items() == [("b", 1), ("a", 2)]
    assert reg.remove("b") == 1 and "b" not in reg and reg.names() == ["a"]
    with pytest.raises(UnknownNameError, match="unknown thing 'b'"):
        reg.remove("b")


def test_an_opt_in_entry_is_valid_but_not_among_the_defaults():
    reg = Registry("thing")
    reg.add("b", 2)
    reg.register("a", opt_in=True)(1)
    reg.add("c", 3)
    assert reg.get("a") == 1 and "a" in reg and reg.names() == ["a", "b", "c"]
    assert reg.registered() == ["b", "c"]
    reg.remove("a")
    reg.add("a", 4)  # registered again, no longer opt-in
    assert reg.registered() == ["b", "c", "a"]
