"""SMS: the transport interface, SMPP 3.4 over smpp34, segmenting, receipts, a local sink."""
