from openward.cli.entry import run

run()
