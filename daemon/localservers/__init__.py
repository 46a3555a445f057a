"""Real servers on 127.0.0.1 for the tests and for `frontdesk demo`.

`mail` runs IMAP (Dovecot, or pymap without Dovecot) and an SMTP sink (aiosmtpd); `radicale` runs
CalDAV. Nothing here needs root, and the optional server packages are imported only when a server
starts, so the daemon imports this package without them.
"""
