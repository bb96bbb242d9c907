"""TASKS: a task's name -> its class (a tasks.base.Task subclass)."""
from ..core.registry import Registry

TASKS: Registry = Registry("task")
