"""Limits of the model's validity, defined once (the metrics flag results beyond them,
the report and the documentation quote them).  Imports nothing."""

#: Rotation [deg] of one motion segment above which a result leaves small-strain
#: validity: a rigid rotation theta shows as a spurious strain 1 - cos(theta) ~ theta^2 / 2,
#: 0.38 % at 5 deg, already half the yield strain of trabecular bone (0.70-0.77 %) that
#: ``bone_at_risk`` thresholds, and the linearised rotation errs by ~theta^2 / 6; in vitro
#: lumbar motion segments move 1-8 deg at 7.5 N m (Heuer 2007, Dreischarf 2014).
SMALL_ROTATION_LIMIT_DEG = 5.0

#: Mean nucleus pressure [MPa] below which the nucleus is in tension: a fluid-like,
#: near-incompressible gel pulled apart is outside what its linear solid model represents.
NUCLEUS_TENSION_LIMIT_MPA = 0.0
