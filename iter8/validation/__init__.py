"""Is this experiment (or metric) right? Every problem at once, each naming its field.

Pure functions: documents and a catalog of known Metrics in, `Problem`s out. The CLI and the
init function are the shells that gather the catalog (files, built-ins, the cluster).

`rules` holds the whole check of a document; `loading` turns a document into its model. The
package itself imports nothing: the analyze function parses experiments with `loading` and
never loads the rules (the tasks' checks, YAML, the routers), ~70 ms of its cold start.
"""
