"""Reading ML Metadata: pipeline runs whichever launcher recorded them, and what each run did."""
