"""lambdacron: serverless cron for AWS.

The data flows one way: env + templates -> rendered tasks -> validated tasks -> manifest -> store
-> runtime -> targets. This module stays import-light: the Lambda package ships it beside
``lambdacron.runtime``.
"""

__version__ = "0.1.0"
