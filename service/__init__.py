"""The application layer: the handlers between the API's entry points and the domain."""
