"""Hand-written CX prototype utterances, original to this project, that teach intent and steady the sentiment head."""

from __future__ import annotations

# intent -> (sentiment, texts). Written across retail, travel, banking, software, telecoms, utilities and food.
_BLOCKS: dict[str, tuple[str, str]] = {
    "complaint": (
        "negative",
        """
        My order is two weeks late and nobody answers my emails
        I was charged twice for one month and the second charge is still there
        The courier left the parcel out in the rain and everything inside is soaked
        Third time this week the app logs me out and empties my basket
        Your delivery driver was rude and threw the box over the fence
        We sat on the runway for two hours and nobody told us anything
        The replacement you sent is broken just like the first one
        I have been on hold for fifty minutes, this is ridiculous
        Broadband has been down since Monday and the engineer never turned up
        The room was filthy and the heating did not work
        You cancelled my booking without telling me and now the price has doubled
        Checkout keeps failing so I cannot pay for anything
        Support closed my ticket without fixing the problem
        Still no refund after thirty days of waiting
        The food arrived cold and half the order was missing
        They promised to call me back yesterday and nobody called
        Since the last update everything is painfully slow
        Wrong size delivered again, that is the second time
        The chatbot goes round in circles and I cannot reach a person
        The delivery slot was eight to twelve and it is now five in the afternoon
        You took a payment after I had closed the account
        The staff at the desk ignored us for twenty minutes
        My suitcase never arrived and nobody can tell me where it is
        The blender stopped working after a week
        The invoice has an extra fee that nobody can explain
        Two hours at the gate and then the flight was cancelled anyway
        The agent hung up on me halfway through the call
        My card was declined even though there is money in the account
        The password reset email never arrives
        Why does it take ten days to get a simple answer from you
        Booked a table for eight and waited forty minutes to be seated
        My transfer has been pending for four days now
        The meter reading on my bill is completely wrong
        Paid for express shipping and it came a week later than standard would have
        The seat was broken and the screen did not work for the whole flight
        Your website logged me out while I was paying and took the money anyway
        Lost my connection because the first leg was late and I had to sleep at the airport
        The product looks nothing like the pictures and feels cheap
        Every time I call I get a different answer
        Nobody at the store knew anything about my order
                Ordered on the 3rd, today is the 20th and the tracking still says processing
        The technician came, looked at the router for five minutes and left without fixing it
        I asked for a window seat when I booked and got the middle seat anyway
        Half the items in my grocery order were substituted without asking
        My bill went up by twenty pounds this month and nobody told me why
        The shower in our room had no hot water for three days
        Sent my documents twice and the account is still not verified
        The app shows my balance as zero even though I was paid yesterday
        Had to explain my problem to four different agents
        Connection drops every evening between seven and ten
        They sold me a plan that does not work in my area
        The charger that came with the laptop does not fit
        Gate changed three times and nobody announced it
        The table we reserved had been given to someone else
        I returned the jacket a month ago and have not seen the money
        My subscription renewed even though I turned auto renew off
        The instructions are missing pages so I cannot assemble it
        No one at the help desk speaks to customers, they just point at the website
        The meal I ordered was not the meal that arrived
        You moved my appointment without asking and I took the day off for nothing
""",
    ),
    "question": (
        "neutral",
        """
        How do I change the delivery address on my order?
        What time does the store open on Sunday?
        Can I bring a second bag on board?
        Is there a discount for students?
        Do you ship to Canada?
        How long does a refund usually take to show up?
        Where can I download last month's invoice?
        Which plan includes international calls?
        Can I pay with PayPal?
        Is the app available on tablets?
        What is the baggage allowance on the basic fare?
        How do I reset my password?
        Does the warranty cover accidental damage?
        When will the large size be back in stock?
        Can I change my seat after checking in?
        Is breakfast included in the room rate?
        How do I add a second user to our account?
        What documents do I need to open an account?
        Are dogs allowed in the cabin?
        Could you tell me the status of order 5521?
        Is there a fee for paying by card?
        Do you have a branch near the station?
        How can I upgrade my subscription?
        What is your returns policy for sale items?
        Any chance of an earlier flight to Denver tomorrow?
        Is the lounge open at 5am?
        Do I need to print my boarding pass?
        Can I pause my membership over the summer?
        What are your opening hours over the holidays?
        Is it possible to split the payment across two cards?
        How do I export my data to a spreadsheet?
        Can someone confirm whether my booking includes a meal?
                Do you deliver on Saturdays?
        What is the cheapest way to send money abroad?
        I am flying to Boston next week, do I need a visa?
        Will my points expire if I do not fly this year?
        Is there parking at the hotel?
        How many devices can I use with one account?
        What happens if I miss my connecting flight?
        Can I get a paper copy of my contract?
        Is the outlet in the city centre open late on Thursdays?
        How do I know which size to order?
        Where do I find my customer number?
        Could I move my delivery to next Tuesday?
        Does the price include VAT?
        Are there any direct flights from Dublin to Chicago?
        Can my partner collect the parcel for me?
        How early should I arrive for an international flight?
""",
    ),
    "praise": (
        "positive",
        """
        Thank you so much, the team sorted everything out in minutes
        Amazing service, the driver even carried the boxes upstairs
        Love the new app, it is so much easier to use
        The crew were lovely and made the flight a pleasure
        Quick delivery and beautifully packed, thank you
        Huge thanks to Maria in support, she was brilliant
        Best customer service I have had in years
        The engineer was on time, polite and fixed it first go
        Really impressed with how fast the refund came through
        Great food, friendly staff, we will be back
        Five stars, everything worked perfectly
        Thanks for upgrading us, what a lovely surprise
        The new dashboard is fantastic, well done
        Smooth check-in and the room was spotless
        Very helpful agent who went out of her way for me
        I was ready to give up but your team fixed it, thank you
        Arrived a day early and works great
        Such a pleasant experience from start to finish
        Kudos to the night staff, they were wonderful
        Cheers for the quick reply, all sorted now
        Excellent value and fantastic quality
        I really appreciate the follow-up call
                The pilot kept us updated the whole way, much appreciated
        Got my refund in two days, impressive
        Your new checkout is so much faster, nice work
        The nurse on the phone was patient and kind
        Driver called ahead and was bang on time, great job
        Fixed in one call, could not ask for more
        Really comfortable seats and tasty food on the flight today
        The store manager went above and beyond to find my size
        So glad I switched to you, the service is night and day
        Lovely stay, we will definitely book again
        Thank you for the birthday surprise at the hotel
        Honestly the smoothest booking experience I have had
""",
    ),
    "suggestion": (
        "neutral",
        """
        It would be great if the app had a dark mode
        Please add a way to save my favourite orders
        You should let us choose a delivery time slot
        It would help to get a text when the driver is close
        Could you add Apple Pay at checkout?
        A family plan would make a lot of sense for us
        I wish I could pause my subscription instead of cancelling
        Would be nice to have more vegetarian options on the menu
        Consider adding power sockets at every seat
        An option to download statements as CSV would save me time
        Maybe offer a cheaper plan without the extras
        It would be handy to see my order history on the website
        Why not let customers pick their seat for free at check-in?
        Idea: a loyalty stamp card for regular customers
        Please bring back the old search filter, it was more useful
        Suggest sending a reminder the day before the appointment
        A live chat option on weekends would be really useful
        Adding a tracking link to the confirmation email would help
                Please add an option to split the bill between friends
        It would be nice if the receipts showed the VAT separately
        A wishlist feature would make gift shopping easier
        Could you send the boarding pass to the wallet app automatically?
        Offering oat milk at no extra charge would be a nice touch
        Let us pick a collection point instead of home delivery
        It would be better if the menu showed allergens clearly
        Please make the font bigger on the statements, it is hard to read
        Why not open the phone lines on Sunday mornings as well?
        A cheaper data-only plan for tablets would be useful
        Adding a search bar to the help pages would help a lot
        You could text customers when the engineer is on the way
        It would help to show the queue length before I call
        Consider a quiet carriage on the morning trains
        Would love to be able to reorder last week's basket in one tap
        A monthly summary email of my spending would be great
""",
    ),
    "churn_threat": (
        "negative",
        """
        Cancel my account or I am leaving for good
        If this is not fixed by Friday I am switching providers
        I am closing my account and moving to another bank
        That is the last time I fly with you
        Please cancel my subscription, I have had enough
        I will not be renewing my contract after this
        Sort this out or I take my business elsewhere
        I am porting my number to another network next week
        Never ordering from you again
        How do I close my account? I am moving to a competitor
        One more outage and we are cancelling the whole team plan
        I am done with you, cancel everything
        Your competitor offered me half the price and I am taking it
        Unless I get a refund today I will cancel my membership
        Thinking of leaving after ten years because of this
        I want to terminate my contract as soon as possible
        We are moving our business to another supplier
        Goodbye, I have already signed up with someone else
                If nobody calls me back today I am cancelling
        I have found a cheaper provider and will be switching at the end of the month
        After this experience I will be flying with another airline
        Please close my account, I am done
        My contract ends in June and I will not be renewing
        Give me a reason to stay because right now I am ready to leave
        This is my last order, I am going elsewhere
        Consider this my notice, I want to cancel my membership
        Unless this is fixed this week we will move to a different supplier
        I am cancelling my direct debit and closing the account
        Twenty years a customer and you have lost me
        Already looking at your competitors, this is not good enough
""",
    ),
    "other": (
        "neutral",
        """
        ok
        Hello
        Just testing the form
        See attached
        My account number is below
        Same as last time
        Following up on my previous message
        n/a
        This is a message from the office
        Good morning
        I am replying to your email
        Forwarded as requested
        No comment
        Order 88213
                Please see my previous email
        Hi, it is Jordan again
        Re: ticket 4471
        Sent from my phone
        Test
        Nothing to add
        My reference is ABC123
        Just checking in
        Ok noted
""",
    ),
}

SEEDS: tuple[tuple[str, str, str], ...] = tuple(
    (intent, sentiment, line.strip())
    for intent, (sentiment, block) in _BLOCKS.items()
    for line in block.strip().splitlines()
    if line.strip()
)
"""(intent, sentiment, text) triples."""
