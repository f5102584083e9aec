"""Services: what the routes ask for, in terms of the domain (the SDK) and the adapters."""
