"""What a run reports, as views of ``ttsbatch.run.results`` only: ``build`` (report.json's
content), ``write`` (report.json/csv/html and the CI formats of ``ci``), ``text`` (the terminal
summary), ``merge`` (the shards of one manifest as one report)."""
