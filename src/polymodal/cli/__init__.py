"""The command line: the parser (parser.py, arguments.py, defaults.py), the entry point
(main.py) and one module per group of verbs (commands/)."""
