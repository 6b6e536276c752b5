"""HTTP/1.1 for the HTTP viewers: body framing (body.py), one keep-alive connection
(connection.py), its deadline watch (watch.py) and one viewer's client (client.py)."""
