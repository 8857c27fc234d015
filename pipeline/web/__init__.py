"""The web application (issue 18): pages for institutions, operators and inspectors."""
