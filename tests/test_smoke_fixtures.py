import boto3
import requests


def test_moto_server_is_reached_by_real_boto3(aws):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "hello"


def test_http_server_records(http_server):
    requests.post(f"{http_server.url}/x", json={"a": 1}, timeout=5)
    assert http_server.requests[0].method == "POST"
    assert http_server.requests[0].json() == {"a": 1}
