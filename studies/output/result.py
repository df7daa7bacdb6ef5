"""What a :class:`~gridstudy.studies.study.Study` run returns, held in memory, and how it is saved.

:meth:`StudyResult.save` writes one output folder: every file into a staging folder, which then
replaces ``DIR`` whole, with its completion marker (:mod:`gridstudy.studies.output.folder`)::

    DIR/summary.json               every verdict and key figure (findings with stable ids)
    DIR/findings.parquet           one row per scenario and finding
    DIR/series.parquet             key series per scenario (POI voltage, grid and battery power, SOC, taps)
    DIR/contingencies.parquet      N-1 rows
    DIR/sag_events.parquet         series of the sag events (when run)
    DIR/fluctuation_windows.parquet  sub-second series of every fluctuation window (scenario, window,
                                   time, poi_vm_pu, grid_p_mw, judged); fluctuation_spectra.parquet
    DIR/scenarios/<name>/          each scenario's QSTS aggregates (QSTSResult.save)
    DIR/site.json                  the network as studied (pandapower JSON and the site's handles)
    DIR/study.toml                 the study file (when the study came from one)
    DIR/complete.json              the completion marker (written last; readers check it)

The report (:func:`gridstudy.studies.report.render.report`) reads these files only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from gridstudy.grid.site_io import site_to_json
from gridstudy.studies.io import atomic_write, to_jsonable, write_json, write_parquet
from gridstudy.studies.output.folder import output_folder

if TYPE_CHECKING:
    from gridstudy.grid.site import Site
    from gridstudy.studies.criteria import Finding
    from gridstudy.studies.qsts.results import QSTSResult

__all__ = ["StudyResult", "findings_table"]


def findings_table(findings_by_scenario: dict[str, list[Finding]]) -> pd.DataFrame:
    """One row per scenario and finding: id, criterion, verdict, worst value, limits and sources."""
    rows = []
    for scen, fs in findings_by_scenario.items():
        for f in fs:
            d = f.to_dict()
            rows.append({
                "scenario": scen, "id": d["id"], "group": d["group"], "criterion": d["criterion"], "pass": d["pass"],
                "worst_value": d.get("worst_value"), "unit": d.get("worst_unit"), "when": d.get("when"),
                "seconds_outside": d.get("seconds_outside"), "events": d.get("events"),
                "limits": "; ".join(f"{lim['name']}: {lim['value']} {lim['unit']}" for lim in d.get("limits", [])),
                "source": "; ".join(sorted({lim["source"] for lim in d.get("limits", []) if lim.get("source")})),
                "note": d.get("note", ""),
            })
    df = pd.DataFrame(rows)
    if len(df):
        df["worst_value"] = pd.to_numeric(df["worst_value"], errors="coerce")
        df["seconds_outside"] = pd.to_numeric(df["seconds_outside"], errors="coerce")
        df["when"] = df["when"].astype(str)
    return df


@dataclass
class StudyResult:
    """The results of one study run.

    Attributes
    ----------
    summary : dict
        What ``summary.json`` holds: the study, the site, per scenario its verdict, key figures and
        ``criteria`` (findings as dicts with stable ``id``), N-1 rows, sag events.
    scenarios : dict of str to QSTSResult
        Each scenario's time-series results.
    findings : dict of str to list of Finding
        Each scenario's findings.
    profiles : dict of str to pandas.DataFrame
        Each scenario's campus and battery series (dispatch output).
    contingencies : list of dict
        N-1 rows (one per outage and scenario), each with its findings under ``criteria``.
    sag_series : pandas.DataFrame
        Series of the sag events (long format: event, scenario, time).
    site : Site
        The network as studied.
    study_text : str
        The study file's text.
    tables : dict of str to pandas.DataFrame
        Further tables saved as ``<name>.parquet`` (the sub-second windows' series
        ``fluctuation_windows`` and their spectra ``fluctuation_spectra``).
    """

    summary: dict[str, Any]
    scenarios: dict[str, QSTSResult]
    findings: dict[str, list[Finding]]
    profiles: dict[str, pd.DataFrame]
    contingencies: list[dict[str, Any]] = field(default_factory=list)
    sag_series: pd.DataFrame = field(default_factory=pd.DataFrame)
    site: Site | None = None
    study_text: str = ""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Every scenario passes every N-0 criterion, and the plant's full-capability corners pass
        (intact and after each credible outage) where the run studied them."""
        return bool(self.summary["pass"])

    @property
    def nonconverged(self) -> bool:
        """Some power flow of some scenario did not converge."""
        return any(r.nonconverged_steps for r in self.scenarios.values())

    def findings_table(self) -> pd.DataFrame:
        """:func:`findings_table` of this result."""
        return findings_table(self.findings)

    def series(self) -> pd.DataFrame:
        """Key series of every scenario in one frame, columns ``<scenario>|<quantity>``.

        ``poi_p_mw``/``poi_q_mvar``: the POI meter (power from the POI bus into the facility,
        losses of its transformers and lines included) [MW, Mvar]; ``grid_p_mw``: the campus-side
        sum campus + battery, without those losses [MW]; ``engine_grid_p_mw``: the slack source's
        import [MW].
        """
        key: dict[str, Any] = {}
        index = None
        for name, prof in self.profiles.items():
            s = self.scenarios[name].series
            index = prof.index
            if "poi_vm_pu" in s:
                key[f"{name}|poi_vm_pu"] = s["poi_vm_pu"].to_numpy()
            for col in ("battery_q_mvar", "grid_p_mw"):
                if col in s:
                    key[f"{name}|engine_{col}"] = s[col].to_numpy()
            for col in ("poi_p_mw", "poi_q_mvar"):
                if col in s and not isinstance(s[col], pd.DataFrame):  # full series, not envelopes
                    key[f"{name}|{col}"] = s[col].to_numpy()
            for col in ("campus_p_mw", "campus_q_mvar", "battery_p_mw", "soc_percent", "saturated"):
                if col in prof:
                    key[f"{name}|{col}"] = prof[col].to_numpy()
            key[f"{name}|grid_p_mw"] = (prof["campus_p_mw"] + prof["battery_p_mw"]).to_numpy()
            for col in s.columns:
                if str(col).startswith("tap_pos_"):
                    key[f"{name}|{col}"] = s[col].to_numpy()
        return pd.DataFrame(key, index=index)

    def save(self, directory: str | Path) -> Path:
        """Save the result as the output folder ``directory`` (see the module docstring).

        Written into a staging folder beside it and moved into place with its completion marker
        (:func:`gridstudy.studies.output.folder.output_folder`): ``directory`` is then exactly this result,
        and an interrupted save leaves the previous folder as it was.
        """

        with output_folder(directory, "run") as stage:
            self.write(stage)
        return Path(directory)

    def write(self, directory: str | Path) -> Path:
        """Write the result's files into ``directory`` (no marker, no staging); ``summary.json`` last."""

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for name, res in self.scenarios.items():
            res.save(out / "scenarios" / name)
        write_parquet(out / "findings.parquet", self.findings_table())
        write_parquet(out / "series.parquet", self.series())
        cont = pd.DataFrame([{k: (", ".join(v) if isinstance(v, list) else v) for k, v in r.items() if k != "criteria"}
                             for r in self.contingencies])
        write_parquet(out / "contingencies.parquet", cont)
        if len(self.sag_series):
            write_parquet(out / "sag_events.parquet", self.sag_series)
        for name, table in self.tables.items():
            write_parquet(out / f"{name}.parquet", table)
        if self.site is not None:
            text = site_to_json(self.site)
            atomic_write(out / "site.json", lambda p: p.write_text(text, encoding="utf-8"))
        if self.study_text:
            atomic_write(out / "study.toml", lambda p: p.write_text(self.study_text, encoding="utf-8"))
        write_json(out / "summary.json", self.summary)
        return out

    def jsonable_summary(self) -> dict[str, Any]:
        """The summary as ``summary.json`` holds it (NaN as ``None``, timestamps as ISO text)."""
        summary: dict[str, Any] = to_jsonable(self.summary)  # a dict of Any matches every overload: Any
        return summary
