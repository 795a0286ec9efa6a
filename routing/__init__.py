"""The routing core: the restriction register, contact windows and the decision engine.

Nothing in this package performs network I/O or imports a framework adapter: functions
take values and return values, so every channel (SMTP, mailbox connectors, call logs,
live lookup) asks the same question and gets the same answer.
"""
