"""The eval harness: suites of cases, retrieval and answer metrics, judges, runner, reports."""
