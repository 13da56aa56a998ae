def pytest_addoption(parser):
    parser.addoption(
        "--chaos-size", type=int, default=300, help="logical transactions in the chaos run"
    )
    parser.addoption("--chaos-seed", type=int, default=None, help="replay a chaos run's seed")
