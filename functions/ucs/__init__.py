"""UCS: upload boxes and file uploads into the inbox (the server side of the upload path)."""
