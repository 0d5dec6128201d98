from tests.lab.conftest import lab_world, monotonic, wall_clock  # noqa: F401  (shared fixtures)
