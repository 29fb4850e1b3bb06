"""The four experiment phases, each a CloudEvent handler served by functions-framework."""
