"""What every app may import: coded errors, the API's error format and helpers, the page views' answers."""
