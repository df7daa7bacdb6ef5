"""The study handed to other tools: PSS/E RAW v33 + DYR (:mod:`~gridstudy.studies.export.raw`,
:mod:`~gridstudy.studies.export.dyr`, :mod:`~gridstudy.studies.export.case`)."""
