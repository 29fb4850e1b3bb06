pytest_plugins = ["tests.kube", "tests.prometheus"]
