"""The same app as a Lambda function: Mangum adapts API Gateway's HTTP API events to ASGI.

Run by the AWS runtime interface client, as a container image or custom runtime would:
`python -m awslambdaric lambda_function.handler`.
"""

from mangum import Mangum

from app import app

handler = Mangum(app, lifespan="off")
