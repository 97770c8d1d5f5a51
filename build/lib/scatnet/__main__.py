from scatnet.cli.train import main

main()
