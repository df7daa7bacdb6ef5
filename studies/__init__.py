"""gridstudy.studies — what is asked and answered: study files, engines, criteria, reports, CLI."""
