"""polymesh.users.v1.UserService in Python, answering exactly as the Go service does."""
