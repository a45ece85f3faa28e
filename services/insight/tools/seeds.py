"""Hand-written CX prototype utterances (original text) that teach intent and steady the sentiment heads."""

from __future__ import annotations

# (intent, sentiment, text). Written for this project across retail, travel, banking, software and telecoms.
SEEDS: tuple[tuple[str, str, str], ...] = tuple(
    (intent, sentiment, text.strip())
    for intent, sentiment, block in (
        (
            "complaint",
            "negative",
            """
Why is there a charge on my card for a month I did not use?
How is it possible that my parcel went to another city again?
Is anyone actually reading these messages? Fourth email about the same broken router
The technician was supposed to come between 8 and 12 and never turned up
your app logged me out mid payment and now the money is gone but no order
I asked for no nuts and the salad came covered in them
The gym shower has been cold for three weeks
Meter reading is wrong, my bill doubled
They put me through to five different departments and nobody could help
Package marked as delivered but it is not here
The new interface is confusing and slower than the old one
Same issue as last month, the invoice still lists a device I returned
I was promised a discount on the phone and it is not on the bill
the agent laughed at me when I asked about compensation
Train was 40 minutes late and the coffee machine was broken
My claim has been pending for six weeks with no update
Appointment cancelled by the clinic for the second time, no explanation
Sent the wrong colour, returned it, and got the wrong colour again
Your website says in stock but every order gets cancelled
My order is two weeks late and nobody answers my emails
I was charged twice and still have not received the money back
The courier left my parcel in the rain and it was ruined
Third time this month the app logs me out and loses my basket
Your driver was rude and threw the box at my door
We sat on the plane for two hours with no information
The replacement you sent is broken as well
I have been on hold for 45 minutes, this is ridiculous
Internet has been down since Monday and the engineer never showed up
The room was dirty and the air conditioning did not work
You cancelled my booking without telling me
The checkout page keeps failing and I cannot pay
Support closed my ticket without fixing anything
Still no refund after 30 days
The food arrived cold and half of it was missing
They promised a call back yesterday and nobody called
The new update made everything slower
I got the wrong size again
Your chatbot is useless and I cannot reach a human
The delivery window was 8 to 12 and it is now 5pm
Billing took money from my account after I closed it
The staff at the counter ignored us for twenty minutes
My bag was lost on a direct flight
Terrible experience, the product stopped working after a week
The invoice is wrong and nobody can explain the extra fee
Two hours waiting at the gate and the flight got cancelled anyway
""",
        ),
        (
            "question",
            "neutral",
            """
do you deliver on sundays
I lost my card abroad, what should I do?
What is the cut-off time for next-day delivery?
Can I transfer my booking to my husband?
my flight is tonight, can I still add a bag online?
How do I update the email address on my account?
Is there a limit on how many devices I can use?
Can I get a paper copy of my policy documents?
Does the premium plan include priority support?
What happens to my points if I downgrade?
Where do I find the tracking number?
Is it possible to pay the deposit in two parts?
Can someone explain how the late fee is calculated?
How do I change the delivery address on my order?
What time does the store open on Sunday?
Can I bring a second bag on the flight?
Is there a student discount?
Do you ship to Canada?
How long does a refund usually take?
Where can I download my invoice?
Which plan includes international calls?
Can I pay with PayPal?
Is the app available on Android tablets?
What is the baggage allowance for economy?
How do I reset my password?
Does the warranty cover accidental damage?
When will the new model be in stock?
Can I change my seat after check-in?
Is breakfast included in the room price?
How do I add a second user to my account?
What documents do I need to open an account?
Are pets allowed on board?
Could you tell me the status of order 5521?
Is there a fee for paying by card?
Do you have a store near the airport?
How can I upgrade my subscription?
What is your returns policy for sale items?
""",
        ),
        (
            "praise",
            "positive",
            """
Five stars, setup took five minutes
The nurse on the phone was kind and reassuring
Honestly the smoothest return I have ever done
Love the app, one tap and done
Thanks to the driver who waited while I found my keys
Great prices and the staff always remember my name
Ten years with you and still happy
The new update is fantastic, much faster
Thank you so much, the team sorted everything out in minutes
Amazing service, the driver even carried the boxes upstairs
Love the new app, it is so much faster
The crew were lovely and made my kids feel special
Great job on the quick delivery, arrived a day early
Best customer support I have ever dealt with
Really impressed with the quality, will order again
Huge thanks to Maria at the help desk
Smooth check-in and friendly staff, well done
The refund came through the same day, thank you
Fantastic food and great atmosphere
Your agent was patient and very helpful
Everything worked perfectly first time
Kudos to the support team for staying late to help me
So happy with my new phone plan
The upgrade was a lovely surprise, thanks
Brilliant experience from start to finish
Thanks for the quick reply, problem solved
The new feature is exactly what I needed
Excellent value and fast shipping
""",
        ),
        (
            "suggestion",
            "neutral",
            """
Any chance you could add Apple Pay at checkout?
Why not let members book classes two weeks ahead?
Could you add subtitles to the training videos?
A way to split the bill between friends would be handy
Please let us turn off the marketing emails separately from receipts
It would be good to have a quiet carriage on the evening trains
Maybe show the calorie count on the menu
Could the invoices include the VAT number? Would make my accounting easier
Suggestion: let us rate the driver after each delivery
It would be great if the app had a dark mode
You should let us choose a delivery time slot
Please add an option to pay in instalments
Would be nice to get a text when the driver is close
Consider adding more vegetarian options to the menu
I suggest showing the total price before the last step
An export to CSV would really help our team
Maybe offer a family plan for three or more people
Adding a search bar to the order history would save time
You could send reminders before the subscription renews
It would help to have live chat on weekends
Please make the font bigger on the boarding pass
I wish the website remembered my preferences
Why not allow changes to the order within the first hour
A loyalty programme for frequent customers would be welcome
Let us pick our seats for free when booking early
Offering paper-free receipts by email would be a good idea
It would be useful to see the estimated wait time in the queue
""",
        ),
        (
            "churn_threat",
            "negative",
            """
Please send me the code to port my number, I am switching
I will not be renewing next year
What is the fee for closing my account early? I have found a cheaper deal
Unless this is sorted by tomorrow I am cancelling
Thinking seriously about switching providers after this
Your competitor offered me half the price, give me a reason to stay
If my refund is not here this week I am done with you
I have loved this service but I am cancelling because of the price rise
Goodbye, already moved my savings elsewhere
Cancel my account or I am leaving for good
If this is not fixed by Friday I am switching to another provider
I will never fly with you again
This is the last time I order from you
I am closing my account and moving to a competitor
Fix this or I will cancel my subscription
Done with you, I am taking my business elsewhere
After ten years as a customer I am leaving
One more mistake and I am gone
I have already signed up with your competitor
Please close my account, I am done
I am cancelling my contract at the end of the month because of this
Not renewing, your service has gone downhill
Never buying from this shop again
You have lost a loyal customer
Cancel my membership immediately
I want to terminate my plan and switch carriers
Unless I get my money back I am leaving and telling everyone
""",
        ),
        (
            "other",
            "neutral",
            """
Just landed in Denver
I bought this as a gift for my sister
Ok
See attached photo
We are travelling with two children next week
My account number is in the previous message
Just checking in
Happy new year everyone
Order number 88213
Testing the feedback form
I am writing on behalf of my father
Same as last time
Watching the game at the lounge
This is my first order
I read the article on your blog
We visited the Berlin store on Saturday
""",
        ),
    )
    for text in block.strip().splitlines()
    if text.strip()
)
