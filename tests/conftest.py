pytest_plugins = ["tests.kube"]
