"""The bottom layer: errors, the registry pattern, atomic files, strict configs and the result
types every task returns. It imports nothing else of polymodal."""
