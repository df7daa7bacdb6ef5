"""gridstudy.studies — what is asked and answered: study files, engines, criteria, reports, CLI."""

if __name__ != "gridstudy.studies":  # a checkout's ``studies/`` folder imported under its bare name
    raise ImportError(f"this is the package gridstudy.studies; import it as gridstudy.studies, not {__name__}")

