# Python code whose comparisons run deep in the interpreter: a recursive
# function sorting with a key, then comparing objects with __lt__.
class Item:  # float(): PyNumber_Float runs only here
    def __init__(self, v):
        self.v = v

    def __lt__(self, other):
        return float(self.v) < float(other.v)


def deep(n):
    if n == 0:
        return sorted([Item(3), Item(1), Item(2)])
    return deep(n - 1)


deep(20)
