"""Notification sinks: Trigger subscribers that tell people what an experiment did.

One module per notifier (`console`, `webhook`, `slack`), each exposing `NOTIFIER`, found by
`iter8.registry.discover`; `app` serves any of them over HTTP as Knative expects of a subscriber.
"""
