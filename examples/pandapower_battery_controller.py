"""A battery with SOC tracking and a dispatch strategy inside a plain pandapower ``run_timeseries``.

pandapower ships no storage controller (its issues #61, #486, #2398); this package's
:class:`gridstudy.studies.qsts.controllers.BatteryController` is one. Here a 10 MW / 20 MWh battery on
pandapower's ``mv_oberrhein`` shaves the feeder's afternoon peak from a day of 15-minute load
values, with an on-load tap changer that waits 60 s before each move.

Run: ``python examples/pandapower_battery_controller.py``
"""

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
from pandapower.control import ConstControl
from pandapower.timeseries import DFData, OutputWriter, run_timeseries

from gridstudy.studies.qsts.controllers import BatteryController, TapController

net = pn.mv_oberrhein()
bus = int(net.bus.index[net.bus.vn_kv == 20.0][10])
sto = pp.create_storage(net, bus, p_mw=0.0, max_e_mwh=20.0, sn_mva=11.0, soc_percent=50.0, min_e_mwh=0.0,
                        max_p_mw=10.0, name="battery")

steps = 96  # one day of 15-minute steps
hours = np.arange(steps) / 4.0
scale = 0.6 + 0.4 * np.exp(-((hours - 17.0) / 3.0) ** 2)  # evening peak
loads = net.load.index.to_numpy()
frame = pd.DataFrame(np.outer(scale, net.load.p_mw.to_numpy()), columns=[str(i) for i in loads])
ConstControl(net, "load", "p_mw", element_index=loads, data_source=DFData(frame),
             profile_name=[str(i) for i in loads])


CAP_MW = float(frame.sum(axis=1).mean())  # the day's mean feeder load [MW]


def peak_shave(campus_p_mw, soc_percent, step_s, cap_mw=CAP_MW):
    """Discharge above ``cap_mw``, recharge slowly below it (charging positive). [MW]"""
    return -(campus_p_mw - cap_mw) if campus_p_mw > cap_mw else 0.5 * (cap_mw - campus_p_mw)


battery = BatteryController(net, sto, strategy=peak_shave, step_s=900.0, load_index=loads,
                            round_trip_efficiency=0.92)
for t in net.trafo.index:  # pandapower's DiscreteTapControl has no time delay; this one does
    TapController(net, t, step_s=900.0, vm_set_pu=1.02, deadband_pu=0.01, delay_s=60.0)

ow = OutputWriter(net, time_steps=range(steps), output_path=None,
                  log_variables=[("res_bus", "vm_pu"), ("res_ext_grid", "p_mw"), ("trafo", "tap_pos")])
run_timeseries(net, time_steps=range(steps), verbose=False, lightsim2grid=False)

r = battery.results
print(r[["campus_p_mw", "p_mw", "soc_percent"]].iloc[::8].round(2).to_string())
print(f"grid import peak {ow.output['res_ext_grid.p_mw'].sum(axis=1).max():.1f} MW "
      f"(load peak {frame.sum(axis=1).max():.1f} MW); SOC {r.soc_percent.min():.1f}-{r.soc_percent.max():.1f} %; "
      f"saturated steps {int(r.saturated.sum())}")
