"""The sandbox's seven login steps and their typical ms (from a healthy `probe run`): the shape of
the probes the benchmarks write into stores and metrics."""

STEPS = [
    ("hub_start", 244),
    ("hub_login", 282),
    ("idp_page", 5),
    ("idp_login", 440),
    ("idp_consent", 193),
    ("oauth_callback", 88),
    ("hub_landing", 199),
]
