from termserver.cli import app

app()
