"""E-mail over SMTP (aiosmtplib) and a local aiosmtpd sink."""
