"""The sizes no input may ask for: one definition for every file and argument that names a plant.

A site file, a study file, a sweep of either, a sizing search and the arguments that attach a
campus and a battery to a network all name a campus and a battery plant. They share these bounds,
so that what one of them refuses no other accepts (each checks them where its input is validated:
:mod:`gridstudy.grid.spec`, :func:`gridstudy.grid.importers.attach`, the models' parameter classes
:class:`gridstudy.models.campus.CampusLoadParams` and :class:`gridstudy.models.battery.MegapackPlant`,
and the sizing section of :mod:`gridstudy.studies.spec.scale`). They are hard limits, far above any
plant built, and no option lifts them (:mod:`gridstudy.studies.spec.limits` holds the limits a person
running a command may lift).
"""

from __future__ import annotations

__all__ = ["MAX_GPUS", "MAX_BATTERY_UNITS", "MAX_CAMPUS_MW"]

#: Most GPUs of a campus model (10 million GPUs is about 10 GW of IT load). [-]
MAX_GPUS = 10_000_000

#: Most Megapack units of a plant (about 400 GWh of the largest preset). [-]
MAX_BATTERY_UNITS = 100_000

#: Largest campus draw: the nominal peak of a campus model, a site's halls together, a network
#: attachment's campus, a measured trace's peak. 100 GW is above what :data:`MAX_GPUS` GPUs of the
#: largest preset (1.2 kW) draw at the largest compute fraction (1.5), node overhead 0.5 and PUE
#: 3 accepted by the campus model (1e7 x 1.2 kW x 1.5 x 1.5 x 3 = 81 GW), so it refuses no campus
#: that the GPU bound admits with preset GPUs. [MW]
MAX_CAMPUS_MW = 100_000.0
