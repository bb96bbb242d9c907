"""What each verb does, one module per group of verbs (cli/main.py maps each verb to its
function); reading many inputs from one argument is inputs.py."""
