mvn -B -s /tmp/cairn-diag.9LErUn/m2-settings.xml test
