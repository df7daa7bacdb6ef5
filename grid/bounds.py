"""The sizes no input may ask for: one definition for every file and argument that names a plant,
and the ranges of a site's network elements (:mod:`gridstudy.grid.spec`).

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

__all__ = ["MAX_GPUS", "MAX_BATTERY_UNITS", "MAX_CAMPUS_MW", "F_HZ_RANGE", "MAX_KV", "MAX_ELEMENT_MVA",
           "MAX_LINE_KM", "MAX_OHM_PER_KM", "MAX_NF_PER_KM", "MAX_PARALLEL"]

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

# -- the network of a site file: ranges outside which no element is built ---------------------------
# A number beyond them is a typo or a unit slip (kV written in V, MVA in VA), not a network: the
# power flow of such a site fails (a 1e12-km line, a 1e12-kV bus, a 1e12-Mvar shunt) and would be
# reported as a voltage collapse, or it never finishes (1e12 parallel circuits). They are far outside
# what is built, so that they refuse no real network.

#: Nominal frequency: 16.7 Hz (railway grids) to 400 Hz (aircraft and ship systems), with margin. [Hz]
F_HZ_RANGE = (10.0, 1_000.0)

#: Highest nominal voltage of a bus or transformer winding: above the highest AC transmission
#: voltage in service (1,000-1,150 kV class). [kV]
MAX_KV = 1_200.0

#: Largest power or rating of one element of a site: a transformer's rating, a load, a shunt (the
#: same 100 GW as a campus, :data:`MAX_CAMPUS_MW`). [MW, MVA, Mvar]
MAX_ELEMENT_MVA = MAX_CAMPUS_MW

#: Longest line or cable section: above the longest AC line sections built (under 1,000 km). [km]
MAX_LINE_KM = 5_000.0

#: Largest series resistance or reactance of a line per km: a 1 mm² copper conductor has about
#: 17 ohm/km, any overhead line or power cable well under 2 ohm/km. [ohm/km]
MAX_OHM_PER_KM = 100.0

#: Largest capacitance of a line per km: power cables have 0.1-1 µF/km, overhead lines about
#: 0.01 µF/km. [nF/km]
MAX_NF_PER_KM = 10_000.0

#: Most identical parallel circuits of a line or units of a transformer entry (each is its own
#: element of the net and its own outage). [-]
MAX_PARALLEL = 100
