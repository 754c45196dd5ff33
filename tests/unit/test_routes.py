"""The dynamic routes' one argument, read from the page's address as Reflex hands it to a state."""

from media_demo import routes


def test_a_route_argument_is_the_segment_after_its_prefix_unquoted() -> None:
    assert routes.path_argument(routes.article_url("comet-returns"), routes.ARTICLE_PREFIX) == "comet-returns"
    assert routes.path_argument("/category/sport/", routes.CATEGORY_PREFIX) == "sport"
    assert routes.path_argument("/article/caf%C3%A9-opens", routes.ARTICLE_PREFIX) == "café-opens"


def test_an_address_outside_the_route_has_no_argument() -> None:
    assert routes.path_argument("/", routes.ARTICLE_PREFIX) == ""
    assert routes.path_argument("/category/sport", routes.ARTICLE_PREFIX) == ""
    assert routes.path_argument("/article/", routes.ARTICLE_PREFIX) == ""
