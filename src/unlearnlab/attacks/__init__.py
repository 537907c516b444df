"""Attacks that test whether unlearned knowledge is gone or only hidden.

``from unlearnlab.attacks.relearn import relearn, relearn_sweep, worst_case`` (the module, not
this package, holds them: a function re-exported here would shadow its own module's name).
"""
