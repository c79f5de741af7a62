print("biotag")
