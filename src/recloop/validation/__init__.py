"""Validation of incoming batches with Great Expectations: suites, row verdicts, Data Docs."""
